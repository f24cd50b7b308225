"""One module per ``motip`` subcommand (see ``motip.cli``): argument parsing and wiring only, the work lives
in the layer modules (config, data, model, engine, eval, viz)."""
