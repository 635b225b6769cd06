"""Image QA of a shot, alone and against its baseline: exposure, white balance, focus,
lighting uniformity, glare, and camera angle/distance/framing from registration.

One measurement per module, each a public function on arrays returning a frozen dataclass;
:mod:`photostation.qa.checks` turns measurements into protocol checks.
"""
