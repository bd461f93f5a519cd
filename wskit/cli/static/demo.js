"use strict";

// The page and its WebSockets share the host and port that served it.
const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const endpoint = (path) => `${scheme}//${location.host}${path}`;

// After a disconnection (server restarted, network gone), try again.
const RETRY_DELAY = 1000;

const minus = document.getElementById("minus");
const plus = document.getElementById("plus");
const value = document.getElementById("value");
const users = document.getElementById("users");
const clock = document.getElementById("clock");

// The counter: the server keeps the value; every tab sends "+" or "-" and
// shows what the server broadcasts: {"value": n} or {"users": n}.
function connectCounter() {
  const websocket = new WebSocket(endpoint("/counter"));
  minus.onclick = () => websocket.send("-");
  plus.onclick = () => websocket.send("+");
  websocket.addEventListener("open", () => {
    minus.disabled = plus.disabled = false;
  });
  websocket.addEventListener("message", ({ data }) => {
    const message = JSON.parse(data);
    if ("value" in message) {
      value.textContent = message.value;
    }
    if ("users" in message) {
      const count = message.users;
      users.textContent = `${count} ${count === 1 ? "user" : "users"} online`;
    }
  });
  websocket.addEventListener("close", () => {
    minus.disabled = plus.disabled = true;
    users.textContent = "disconnected, reconnecting…";
    setTimeout(connectCounter, RETRY_DELAY);
  });
}

// The clock: the server broadcasts {"time": milliseconds since the epoch}
// to every tab at the start of each second.
function connectClock() {
  const websocket = new WebSocket(endpoint("/clock"));
  websocket.addEventListener("message", ({ data }) => {
    const time = new Date(JSON.parse(data).time);
    clock.dateTime = time.toISOString();
    clock.textContent = time.toLocaleTimeString([], { hour12: false });
  });
  websocket.addEventListener("close", () => {
    clock.textContent = "--:--:--";
    setTimeout(connectClock, RETRY_DELAY);
  });
}

connectCounter();
connectClock();
