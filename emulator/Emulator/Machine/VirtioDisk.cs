using Emulator.Virtio;
using Qed;

namespace Emulator.Machine;

/// <summary>One -drive as the guest sees it: the PCI function, the virtio-blk device and the image behind it.</summary>
public sealed record VirtioDisk(string Name, DriveOptions Options, IBlockDevice Backend, VirtioBlk Device,
    VirtioPciTransport Transport);
