-- Data-driven models are fitted per conversion type (order, deal, lead, signup; DESIGN §4):
-- each fit row names its type. The type is also part of `model_version`, so fits of
-- different types never replace each other.
ALTER TABLE model_fits ADD COLUMN conversion_type String DEFAULT '';
