"""Boards as data: load and validate boards/*.toml, derive build inputs, and
the `thimble boards` command (list / show)."""
from .board import (BOARDS_DIR, Board, BoardError, Region, board_names, load_board,
                    parse_board)
from .cli import add_parser, run

__all__ = ["BOARDS_DIR", "Board", "BoardError", "Region", "board_names", "load_board",
           "parse_board", "add_parser", "run"]
