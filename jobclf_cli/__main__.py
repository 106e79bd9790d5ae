"""`python -m jobclf_cli` is the `jobclf` command."""

from jobclf_cli.main import main

if __name__ == "__main__":
    main()
