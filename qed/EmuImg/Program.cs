// emu-img: qemu-img's commands and flags over the QED engine (see qed/README.md).
return await EmuImg.EmuImgCli.RunAsync(args, Console.Out, Console.Error);
