-- Sales value and units by month of order and currency (analyst schema: no PII).
SELECT d."year", d."month", c."currency_code",
       SUM(f."units_sold" * f."unit_price") AS sales_value, SUM(f."units_sold") AS units
FROM "analyst"."fact_sales_order" AS f
JOIN "analyst"."dim_date" AS d ON d."date_id" = f."created_date"
JOIN "analyst"."dim_currency" AS c ON c."currency_id" = f."currency_id"
GROUP BY d."year", d."month", c."currency_code"
ORDER BY d."year", d."month", c."currency_code";
