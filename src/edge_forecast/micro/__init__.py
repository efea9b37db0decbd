"""Microcontroller deployment (`edge-forecast micro`): C arrays, the measured tensor arena, the
operator registration, and the closed loop verified in TFLM's interpreter against ai-edge-litert."""
