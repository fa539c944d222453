"""What a run and a sweep leave on disk: the columns, the folder layout, and staged, atomic writing."""
