"""Ground-level helpers every layer may use: errors, atomic files, run folders, seeding."""
