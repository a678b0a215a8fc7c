// Starts Swagger UI on the API docs page (vault/api/templates/api/docs.html). A file, not an
// inline script: the Content-Security-Policy runs only the vault's own scripts.
"use strict";
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    validatorUrl: null, // no badge from validator.swagger.io: nothing leaves the vault
  });
});
