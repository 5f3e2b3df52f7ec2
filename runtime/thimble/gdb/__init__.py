"""The GDB remote serial protocol, client side: the packet layer (rsp), a
halted target's memory, flash and registers (target), and loading a
firmware ELF onto it (load), for `thimble flash`."""
