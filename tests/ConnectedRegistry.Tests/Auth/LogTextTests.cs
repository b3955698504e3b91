using ConnectedRegistry.Core;

namespace ConnectedRegistry.Tests.Auth;

public class LogTextTests
{
    [Theory]
    [InlineData("line-puller", "line-puller")]
    [InlineData("a\r\nb", @"a\r\nb")]
    [InlineData("a\0b\tc", @"a\0b\tc")]
    [InlineData("\u001b[31mred", @"\u001b[31mred")]
    [InlineData("x\u2028y\u2029z\u0085", @"x\u2028y\u2029z\u0085")]
    [InlineData("\u202eevil", @"\u202eevil")]
    [InlineData("a\u202ab\u2066c\u2069d", @"a\u202ab\u2066c\u2069d")]
    [InlineData("\u200fmark\u200e\u061c", @"\u200fmark\u200e\u061c")]
    [InlineData("\u0080\u009b[2J", @"\u0080\u009b[2J")]
    [InlineData(@"a\nb", @"a\\nb")]
    [InlineData("été", "été")]
    public void Control_characters_become_visible_escapes(string raw, string logged) => Assert.Equal(logged, LogText.Escape(raw));

    [Fact]
    public void Long_values_are_cut_and_plain_ones_are_returned_as_they_are()
    {
        var plain = "factory/line";
        Assert.Same(plain, LogText.Escape(plain));
        Assert.Equal(new string('a', LogText.MaxLength) + "…", LogText.Escape(new string('a', 10_000)));
        Assert.Equal("(none)", LogText.Escape(null));
    }
}
