// Crumb on its own origin, as on a site that embeds
// <script src="https://consent.example.com/crumb.js" ...>. Opened at
// http://localhost:8080/other-origin.html, this page loads Crumb from
// http://127.0.0.1:8080 (and the other way round): two origins, one demo
// server. Both are in the demo site's allowed_origins.
const crumb = document.createElement('script');
const other = location.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
crumb.src = location.protocol + '//' + other + ':' + location.port + '/crumb.js';
crumb.dataset.site = 'demo';
crumb.async = true;
document.head.append(crumb);
