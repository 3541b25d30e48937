// Starts Swagger UI over this api's own document. "Try it out" sends requests to this same
// origin; "Authorize" takes a tenant token (/v1) or the service token (/internal).
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  deepLinking: true,
  displayRequestDuration: true,
  // No schema badge from an outside validator: nothing leaves this origin.
  validatorUrl: null,
});
