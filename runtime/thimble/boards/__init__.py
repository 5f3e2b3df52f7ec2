"""Boards as data: load and validate boards/*.toml (board) and derive a
board's build inputs: header, CMake settings, linker script (generate)."""
from .board import (BOARDS_DIR, FLASH_MAX_BYTES, Board, BoardError, Region, board_names,
                    load_board, parse_board)

__all__ = ["BOARDS_DIR", "FLASH_MAX_BYTES", "Board", "BoardError", "Region", "board_names",
           "load_board", "parse_board"]
