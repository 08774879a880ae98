-- Sales value by the city of the counterparty's legal address.
SELECT cp."city", SUM(f."units_sold" * f."unit_price") AS sales_value
FROM "analyst"."fact_sales_order" AS f
JOIN "analyst"."dim_counterparty" AS cp ON cp."counterparty_id" = f."counterparty_id"
GROUP BY cp."city"
ORDER BY sales_value DESC, cp."city";
