"""Files attnbench writes and reads back: result CSVs appended row by row, whole files replaced atomically."""
