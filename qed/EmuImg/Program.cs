// emu-img: qemu-img's command conventions over the QED engine (work in progress).
Console.Error.WriteLine("emu-img: no commands are implemented yet");
return 1;
