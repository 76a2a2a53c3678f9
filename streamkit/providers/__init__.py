"""One module per provider; each only builds requests and maps wire events."""
