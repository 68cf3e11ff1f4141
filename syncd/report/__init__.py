"""`syncd report`: the network measures of a period, as JSON, text and HTML."""
