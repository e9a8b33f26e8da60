"""The work behind each ``minprune`` subcommand, one module per command."""
