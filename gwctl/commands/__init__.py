"""gwctl's commands, one module per noun: key, spend, models, config, health."""
