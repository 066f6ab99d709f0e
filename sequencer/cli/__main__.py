"""``python -m sequencer.cli``: the same command line as the ``sequencer`` script."""

from sequencer.cli import main

if __name__ == "__main__":
    main()
