// emu-io: qemu-io's commands over the QED engine (see qed/README.md).
var stdout = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = false, NewLine = "\n" };
var stderr = new StreamWriter(Console.OpenStandardError()) { AutoFlush = true, NewLine = "\n" };
int status = await EmuIo.EmuIoCli.RunAsync(args, Console.In, stdout, stderr, stdinIsTerminal: !Console.IsInputRedirected);
stdout.Flush();
return status;
