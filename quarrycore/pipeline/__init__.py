"""A job's run, free of Prefect: the request, opening and finishing the job, the steps a
batch goes through, and the batch loop."""
