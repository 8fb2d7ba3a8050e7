"""What the GitHub Action (``action.yml``) needs beyond the ordinary commands: a plan report
for several pipelines at once (one markdown body, the step's outputs) and the sticky
pull-request comment that carries it. ``seedflow ci ...`` (a hidden command group) runs them;
docs/ci.md ("The GitHub Action") explains the design."""
