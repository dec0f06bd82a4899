// emu: qemu-system-i386's flags for this PC (work in progress).
Console.Error.WriteLine("emu: the machine is not assembled yet");
return 1;
