"""What every command and library module leans on: the error classes and exit
codes (errors), where package data and builds live (resources), how a process
stops and cleans up (lifecycle), and the one progress printer (progress)."""
