// Stripe's card form for the checkout: the card number goes to Stripe, and
// only the PaymentMethod id Stripe returns is posted to Fulfill.
(function () {
  var mount = document.getElementById("stripe-card");
  if (!mount || !window.Stripe) return;
  var stripe = window.Stripe(mount.getAttribute("data-key"));
  var card = stripe.elements().create("card");
  card.mount(mount);
  var form = mount.closest("form");
  var field = document.getElementById("stripe-pm");
  var error = document.getElementById("stripe-error");
  form.addEventListener("submit", function (e) {
    if (field.value) return;
    e.preventDefault();
    stripe.createPaymentMethod({ type: "card", card: card }).then(function (result) {
      if (result.error) {
        error.textContent = result.error.message;
        return;
      }
      field.value = result.paymentMethod.id;
      form.submit();
    });
  });
})();
