-- The ten designs with the most units sold.
SELECT g."design_name", SUM(f."units_sold") AS units
FROM "analyst"."fact_sales_order" AS f
JOIN "analyst"."dim_design" AS g ON g."design_id" = f."design_id"
GROUP BY g."design_name"
ORDER BY units DESC, g."design_name"
LIMIT 10;
