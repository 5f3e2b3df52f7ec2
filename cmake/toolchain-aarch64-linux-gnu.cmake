# Bare-metal AArch64 build with Debian's aarch64-linux-gnu-gcc used freestanding
# (-ffreestanding -nostdlib, our own start-up and linker script; no Linux ABI is
# used). CPU flags come from the board file.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_ASM_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_OBJCOPY aarch64-linux-gnu-objcopy)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
