// Siyakha simulator: send what is typed to /simulator/messages and show the replies.
(function () {
  "use strict";
  const log = document.getElementById("log");
  const composer = document.getElementById("composer");
  const input = document.getElementById("text");
  const error = document.getElementById("error");

  function channel() {
    return document.querySelector("input[name=channel]:checked").value;
  }

  function bubble(text, who, meta) {
    const item = document.createElement("li");
    item.className = who;
    item.textContent = text; // always text: never render what a resident typed as HTML
    if (meta) {
      const small = document.createElement("span");
      small.className = "meta";
      small.textContent = meta;
      item.appendChild(small);
    }
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  // Proactive messages (staff replies, reminders, broadcasts) arrive through the outbox.
  let lastProactive = 0;
  let proactivePhone = null;
  async function pollProactive() {
    const phone = document.getElementById("phone").value;
    if (phone !== proactivePhone) { proactivePhone = phone; lastProactive = 0; }
    try {
      const response = await fetch("/simulator/outbox?phone=" + encodeURIComponent(phone) + "&after=" + lastProactive);
      if (response.ok) {
        for (const message of await response.json()) {
          lastProactive = Math.max(lastProactive, message.id);
          bubble(message.text, "bot proactive", "Sent by Siyakha (" + message.purpose + ", " + message.channel + ", " + message.status + ")");
        }
      }
    } catch (err) { /* the next poll tries again */ }
  }
  setInterval(pollProactive, 3000);

  composer.addEventListener("submit", async function (event) {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    error.hidden = true;
    bubble(text, "me");
    input.value = "";
    try {
      const response = await fetch("/simulator/messages", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ channel: channel(), phone: document.getElementById("phone").value, text: text }),
      });
      const data = await response.json();
      if (!response.ok) throw new Error(typeof data.detail === "string" ? data.detail : "the message was refused");
      for (const reply of data.replies) {
        const meta = channel() === "sms"
          ? reply.segments + " SMS segment" + (reply.segments === 1 ? "" : "s") + " · " + reply.encoding
          : "WhatsApp";
        bubble(reply.text, "bot", meta);
      }
    } catch (err) {
      error.textContent = "Could not send: " + err.message;
      error.hidden = false;
    }
    input.focus();
  });
})();
