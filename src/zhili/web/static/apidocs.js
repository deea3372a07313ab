// Starts Swagger UI on /docs (an external file: the page's CSP allows no inline script).
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // the default badge asks a server elsewhere to validate the document
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
