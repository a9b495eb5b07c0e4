"""What the Rasa server loads (input channels, NLU components), plus the command line that runs the system."""
