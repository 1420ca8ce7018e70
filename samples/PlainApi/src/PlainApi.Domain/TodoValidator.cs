using FluentValidation;

namespace PlainApi.Domain;

/// <summary>What a new todo must satisfy.</summary>
public sealed class TodoValidator : AbstractValidator<Todo>
{
    public TodoValidator()
    {
        RuleFor(t => t.Title).NotEmpty().MaximumLength(200);
    }
}
