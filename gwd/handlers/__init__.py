"""HTTP handlers: parse, call the core, render. No logic of their own."""
