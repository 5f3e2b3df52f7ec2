"""Every `thimble` command, subcommand and option explains itself in --help."""
import argparse

from thimble.cli import build_parser


def undocumented(parser, path=()):
    out = []
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction):
            continue
        if isinstance(a, argparse._SubParsersAction):
            helped = {c.dest for c in a._choices_actions if c.help}
            for name, sub in a.choices.items():
                if name not in helped:
                    out.append(" ".join((*path, name)) + ": no help line")
                out += undocumented(sub, (*path, name))
            continue
        if not a.help:
            out.append(" ".join(path) + ": " + ("/".join(a.option_strings) or a.dest))
    return out


def test_every_command_and_option_has_help():
    assert undocumented(build_parser()) == []
