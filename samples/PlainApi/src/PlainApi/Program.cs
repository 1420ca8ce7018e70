using System.Collections.Concurrent;
using FluentValidation;
using PlainApi.Domain;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddSingleton<IValidator<Todo>, TodoValidator>();
builder.Services.AddHealthChecks();
var app = builder.Build();

var todos = new ConcurrentDictionary<int, Todo>();

app.MapGet("/", () => Welcome.Text);
app.MapHealthChecks("/health");
app.MapGet("/todos", () => todos.Values.OrderBy(t => t.Id));
app.MapPost("/todos", (Todo todo, IValidator<Todo> validator) =>
{
    var result = validator.Validate(todo);
    if (!result.IsValid)
    {
        return Results.ValidationProblem(result.ToDictionary());
    }

    return todos.TryAdd(todo.Id, todo) ? Results.Created($"/todos/{todo.Id}", todo) : Results.Conflict();
});

app.Run();
