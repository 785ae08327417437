"""Tables, scorecard, figures and the HTML report."""
