"""Minimal ELF executables for the flash tests: the program headers thimble
flash reads and nothing else (written here from the ELF specification, so
the reader is tested against an independent writer)."""
import struct


def make_elf(segments, entry, *, cls=1, machine=40, e_type=2):
    """segments: [(paddr, bytes, memsz or None)] -> the file's bytes."""
    if cls == 1:
        eh, ph = 52, 32
        head = struct.pack("<16sHHIIIIIHHHHHH", b"\x7fELF\x01\x01\x01" + bytes(9), e_type, machine, 1, entry, eh, 0,
                           0, eh, ph, len(segments), 0, 0, 0)
    else:
        eh, ph = 64, 56
        head = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), e_type, machine, 1, entry, eh, 0,
                           0, eh, ph, len(segments), 0, 0, 0)
    off = eh + ph * len(segments)
    phdrs, body = b"", b""
    for addr, data, memsz in segments:
        memsz = len(data) if memsz is None else memsz
        if cls == 1:
            phdrs += struct.pack("<IIIIIIII", 1, off + len(body), addr, addr, len(data), memsz, 5, 4)
        else:
            phdrs += struct.pack("<IIQQQQQQ", 1, 5, off + len(body), addr, addr, len(data), memsz, 8)
        body += data
    return head + phdrs + body


def fake_board_toml(name, code_base, code_size, ram_base, ram_size):
    """A board file for a Cortex-M4 whose memory is the fake GDB server's."""
    return f'''name = "{name}"
description = "a board for the GDB client's tests"
family = "cortex-m"
toolchain = "arm-none-eabi"
flash_sector_bytes = 8192
[cpu]
core = "cortex-m4"
flags = ["-mcpu=cortex-m4", "-mthumb"]
features = ["dsp"]
real_clock_hz = 100000000
emulated_clock_hz = 25000000
counter = "systick"
[memory.code]
base = {code_base:#x}
size = {code_size:#x}
[memory.ram]
base = {ram_base:#x}
size = {ram_size // 2:#x}
[memory.arena]
base = {ram_base + ram_size // 2:#x}
size = {ram_size // 4:#x}
[memory.weights]
base = 0x60000000
size = 0x00100000
[uart]
kind = "cmsdk"
base = 0x40004000
[qemu]
binary = "qemu-system-arm"
machine = "mps2-an386"
cpu = ""
options = []
'''
