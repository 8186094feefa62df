#!/usr/bin/env node
// Writes the synthetic risk-messages dataset used by `lora-node demo`:
// short support-inbox messages labelled ok / spam / phishing, filled in from
// the templates below with a fixed-seed generator, so every run writes the
// same two files byte for byte.
//
//   node examples/make-dataset.mjs          # writes risk-messages.csv and risk-messages.eval.csv
//
// The text is written by the lora-node authors (no outside source); licence Apache-2.0.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SEED = 20240611;
const COUNTS = { ok: 300, spam: 150, phishing: 150 };
const EVAL_SHARE = 0.2;

// ---- slot values ----
const SLOTS = {
  name: ['Anna', 'Ben', 'Carla', 'David', 'Elif', 'Farid', 'Grace', 'Hugo', 'Ines', 'Jonas', 'Keiko', 'Liam', 'Maria', 'Noah', 'Olga', 'Priya', 'Rosa', 'Sam', 'Tariq', 'Yuki'],
  product: ['headphones', 'router', 'keyboard', 'monitor', 'phone case', 'charger', 'smart watch', 'printer', 'webcam', 'speaker', 'laptop stand', 'desk lamp', 'backpack', 'coffee grinder', 'e-reader'],
  plan: ['basic', 'family', 'pro', 'business', 'premium', 'starter', 'team'],
  platform: ['Windows', 'macOS', 'Linux', 'Android', 'iOS', 'Chromebook'],
  device: ['phone', 'tablet', 'laptop', 'desktop', 'work computer'],
  feature: ['settings', 'billing', 'profile', 'search', 'messages', 'export', 'calendar', 'dashboard'],
  topic: ['returns', 'shipping times', 'two-factor login', 'gift cards', 'warranty claims', 'data export'],
  time: ['week', 'month', 'Friday', 'Monday', 'weekend', 'year'],
  period: ['few days', 'couple of hours', 'week', 'single use', 'software update'],
  order: () => `#${10000 + rand(90000)}`,
  spamProduct: ['watches', 'sunglasses', 'sneakers', 'perfume', 'handbags', 'supplements', 'vitamins', 'phone cases', 'followers', 'software licences'],
  discount: ['50', '60', '70', '80', '90'],
  money: ['500', '900', '1,200', '2,500', '5,000', '7,800'],
  prize: ['iPhone', 'gift card', 'cruise', 'laptop', 'vacation', 'shopping voucher'],
  domain: ['best-deals-now.biz', 'cheap-store24.shop', 'mega-offers.club', 'winbig-today.top', 'fastcash-club.info', 'promo-zone.xyz'],
  phishUrl: ['secure-login-verify.com', 'account-check-center.net', 'support-update-portal.com', 'billing-confirm.info', 'id-verification-desk.org', 'my-acct-security.co'],
  country: ['Russia', 'Brazil', 'Nigeria', 'Vietnam', 'Romania', 'an unknown device'],
  bank: ['Chase', 'Barclays', 'HSBC', 'Wells Fargo', 'Santander', 'your bank'],
  service: ['Netflix', 'Amazon', 'PayPal', 'Microsoft 365', 'Apple ID', 'Spotify', 'DHL'],
  fee: ['$1.99', '$2.95', '€3.50', '£2.40', '$4.99'],
  hours: ['12', '24', '48'],
  n: ['5', '10', '20', '50', '100'],
  days: ['3', '7', '14', '30'],
};

const TEMPLATES = {
  ok: [
    'my order {order} has not arrived yet, could you check the tracking?',
    'I forgot my password and the reset email never came. Can you help?',
    'the {product} I bought last {time} stopped working after a {period}.',
    'thanks for the quick reply yesterday, the {product} works fine now.',
    'can I change the delivery address for order {order} before it ships?',
    'will the {product} I ordered work with {platform}?',
    'I was charged twice for order {order}, please refund one of the payments.',
    'the link in your help article about {topic} seems to be broken.',
    'do you offer a student discount on the {plan} plan?',
    'how do I cancel my {plan} subscription? I cannot find the option in {feature}.',
    'the app crashes when I open the {feature} page on my {device}.',
    'could you send me an invoice for order {order}? Our accounting team needs it.',
    'my account still shows my old email address, how can I update it?',
    'great support today from {name}, the {product} problem was solved in minutes.',
    'is there a free trial of the {plan} plan, or do I have to pay first?',
    'the {product} arrived damaged, what is the process for {topic}?',
    'I would like to upgrade from the {plan} plan to the {plan} plan next {time}.',
    'two-factor login codes arrive late on my {device}, is that a known issue?',
    'where can I read your policy on {topic}?',
    'the {feature} page loads very slowly on {platform} since the last update.',
    'can {name} call me back about order {order}? I missed the call.',
    'I changed my password but the {device} app still asks for the old one.',
  ],
  spam: [
    'buy cheap {spamProduct} now! {discount}% off, limited offer, order today!!!',
    'earn ${money} a week working from home, no experience needed. Reply YES to join.',
    'congratulations, you have been selected for a free {prize}! Reply now to claim it.',
    'best prices on {spamProduct}, visit {domain} and save big this {time}.',
    'make money fast with our crypto trading bot, {discount}% returns guaranteed!',
    'lose {n} kg in {days} days with this one weird trick, doctors hate it.',
    'SEO services: get your website to page one of Google in {days} days. Cheap rates!',
    'follow my channel for free giveaways every day!!! {domain}',
    'wholesale {spamProduct} direct from the factory, minimum order {n} pieces, message us on WhatsApp.',
    'hot deal: {spamProduct} at {discount}% off, only at {domain}, while stocks last.',
    'you are our lucky visitor of the {time}! Spin the wheel at {domain} to win a {prize}.',
    'get {n} thousand followers overnight, real accounts, cheap packages at {domain}.',
    'limited time offer!!! free shipping on all {spamProduct}, use code SAVE{discount}.',
    'work from home and earn ${money} per month, just {n} minutes a day, join at {domain}.',
  ],
  phishing: [
    'your account has been suspended. Verify your password within {hours} hours at {phishUrl} or it will be deleted.',
    'security alert: unusual sign-in from {country}. Confirm your identity here: {phishUrl}',
    'we could not process your payment. Update your card details at {phishUrl} to avoid interruption.',
    'this is {bank} support. Please reply with your online banking PIN to unlock your account.',
    'your package is held at customs. Pay the {fee} fee at {phishUrl} to release it.',
    'IT department: your mailbox is full. Log in at {phishUrl} with your email and password to keep receiving mail.',
    'dear customer, your {service} subscription has expired. Re-enter your billing information at {phishUrl}.',
    'final notice: your tax refund of ${money} is pending. Submit your bank details at {phishUrl}.',
    'hi, it is {name} from the support team, I need the verification code we just sent to your {device} to fix your account.',
    'your {service} password expires today. Keep your current password by confirming it at {phishUrl}.',
    '{bank} fraud team: your card was locked. Reply with the card number and security code to reactivate it.',
    'urgent: we detected a problem with your {service} account. Sign in within {hours} hours at {phishUrl} to avoid suspension.',
    '{service}: your parcel could not be delivered. Confirm your address and pay {fee} at {phishUrl}.',
    'your {service} account will be closed today unless you verify your login details at {phishUrl}.',
  ],
};

const GREETINGS = { ok: ['', '', 'Hi, ', 'Hello, ', 'Hi team, ', 'Good morning, '], spam: ['', '', 'Hello friend, ', 'Dear customer, ', 'Hi, '], phishing: ['', '', 'Dear customer, ', 'Dear user, ', 'Hello, '] };
const ENDINGS = { ok: ['', '', ' Thanks.', ' Thank you!', ' Regards, {name}', ' Best, {name}'], spam: ['', '', ' Unsubscribe: reply STOP.', ' Don\'t miss out!', ' Act now!'], phishing: ['', '', ' Thank you for your cooperation.', ' {service} Security Team', ' Regards, {bank}'] };

// ---- a deterministic generator (LCG, high bits) ----
let state = SEED >>> 0;
function rand(n) {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return (state >>> 8) % n;
}
const pick = (list) => list[rand(list.length)];

function fill(template) {
  return template.replace(/\{(\w+)\}/g, (_, slot) => {
    const values = SLOTS[slot];
    if (values === undefined) throw new Error(`no slot ${slot}`);
    return typeof values === 'function' ? values() : pick(values);
  });
}

function message(label) {
  const body = fill(pick(TEMPLATES[label]));
  // A body that opens with its own greeting ("dear customer, ...") takes no other.
  const greeting = /^(dear|hi|hello)\b/.test(body) ? '' : fill(pick(GREETINGS[label]));
  const text = greeting + (greeting ? body : body[0].toUpperCase() + body.slice(1)) + fill(pick(ENDINGS[label]));
  return text;
}

// ---- generate distinct messages, shuffle, split ----
const seen = new Set();
const rows = [];
for (const [label, count] of Object.entries(COUNTS)) {
  let made = 0;
  for (let tries = 0; made < count; tries++) {
    if (tries > count * 100) throw new Error(`cannot make ${count} distinct ${label} messages`);
    const text = message(label);
    if (seen.has(text)) continue;
    seen.add(text);
    rows.push({ text, label });
    made++;
  }
}
for (let i = rows.length - 1; i > 0; i--) {
  const j = rand(i + 1);
  [rows[i], rows[j]] = [rows[j], rows[i]];
}
const evalCount = Math.round(rows.length * EVAL_SHARE);

// RFC 4180: every field quoted, quotes doubled.
const csv = (list) => ['"text","label"', ...list.map((r) => `"${r.text.replaceAll('"', '""')}","${r.label}"`)].join('\n') + '\n';
const here = dirname(fileURLToPath(import.meta.url));
writeFileSync(join(here, 'risk-messages.csv'), csv(rows.slice(evalCount)));
writeFileSync(join(here, 'risk-messages.eval.csv'), csv(rows.slice(0, evalCount)));
console.log(`wrote ${rows.length - evalCount} training and ${evalCount} evaluation messages to ${here}`);
