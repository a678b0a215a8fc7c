"""vault's top-level modules: the app factory and settings, the unit of work, logs, mail,
migrations, spreadsheets."""
