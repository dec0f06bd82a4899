using Spectre.Console;

namespace EmuImg;

/// <summary>The -p progress bar, drawn by Spectre.Console on the command's own output.</summary>
internal static class ProgressBar
{
    public static async Task RunAsync(TextWriter output, string title, Func<Action<double>, Task> work)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask(title, maxValue: 100);
                await work(percent => task.Value = Math.Min(100, percent));
                task.Value = 100;
            });
    }
}
