namespace Immutable.Build.Core.Tests;

public sealed class ImmutableBuildExceptionTests
{
    [Fact]
    public void Carries_its_code_and_prints_it_before_the_message()
    {
        var error = new ImmutableBuildException("IMB1234", "Something to fix.");
        Assert.Equal("IMB1234", error.Code);
        Assert.Equal("IMB1234: Something to fix.", error.ToString());
    }

    [Fact]
    public void Refuses_an_empty_code() => Assert.Throws<ArgumentException>(() => new ImmutableBuildException("", "x"));
}
