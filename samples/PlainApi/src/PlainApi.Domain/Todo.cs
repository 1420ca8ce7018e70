namespace PlainApi.Domain;

/// <summary>A thing to do.</summary>
public sealed record Todo(int Id, string Title, bool Done = false);
