"""The budget file: schema, loader, units."""
