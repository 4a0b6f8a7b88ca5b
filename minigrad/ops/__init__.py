"""The built-in differentiable operations, one ``Op`` class each, forward and backward
side by side: ``elementwise`` (arithmetic and math), ``reduce`` (sum, mean, var,
max/min), ``shape`` (views, indexing, joining, splitting), ``linalg`` (matmul,
addmm, linear).  ``dual`` holds the helpers their backward formulas share."""
