"""Starting and stopping the local stack (Temporal dev server, simulator, localstripe, workers) and the demo."""
