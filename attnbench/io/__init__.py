"""Files: result CSVs appended row by row and whole files replaced atomically (csvfile), exports, plots."""
