// fuzz: the long modes of the robustness tests (see qed/README.md, "Robustness").
using System.CommandLine;

var root = new RootCommand("Long runs of the robustness simulators: power cuts, fuzzed images, hostile guests, random code");
root.Add(Fuzz.PowerCutCommand.Build());
root.Add(Fuzz.ImagesCommand.Build());
root.Add(Fuzz.VirtioCommand.Build());
root.Add(Fuzz.CpuCommand.Build());
var parse = root.Parse(args);
return await parse.InvokeAsync();
